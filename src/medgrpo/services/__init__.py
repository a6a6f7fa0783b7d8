"""Local service processes (MLflow server, Airflow components) for the demo and the tests.

Each service runs in its own process group and is stopped as a group, so nothing is left
behind when the demo or a test fixture ends.
"""

from medgrpo.services.process import ManagedProcess, free_port, wait_http

__all__ = ["ManagedProcess", "free_port", "wait_http"]
