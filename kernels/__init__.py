"""calclab kernels: pure numba functions on float64 arrays. No config, no I/O, no runner imports."""
