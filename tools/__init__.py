"""Tools of this repository (not shipped): the end-to-end harness in :mod:`tools.e2e`."""
