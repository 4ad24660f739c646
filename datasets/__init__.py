"""Turning raw meshes, scans and light fields into training sets (HDF5), and their loaders."""
