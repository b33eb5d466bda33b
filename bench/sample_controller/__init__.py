"""The sample-controller benchmarks (``python -m bench.sample_controller.burst``)."""
