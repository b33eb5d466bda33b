# The Network controller image: slim Python, a non-root user, no build tools.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY apps/network-controller ./apps/network-controller
# The library, then the application on it (its own project).
RUN pip install --no-cache-dir --prefix=/install . ./apps/network-controller

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin controller
USER 65532:65532
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["network-controller"]
