"""What ``task=integrate`` integrates and how.

``integrands`` holds one schema per ``conf/integrand`` option with its closed form where one
exists; ``integrators`` one schema per ``conf/integrator`` option and the code that drives
the Monte Carlo and quadrature kernels; ``trace`` the convergence trace (estimate, standard
error and error against n, with the log-log slopes; long runs in paced kernel calls, a progress
bar and Ctrl-C between them).  May import: ``runner.config``, ``runner.expr``, ``runner.errors``,
``runner.pacing``, ``runner.interrupt``, ``kernels``.
"""
