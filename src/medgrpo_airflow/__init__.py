"""Airflow-side helpers shared by the DAG files and the plugin.

The library (:mod:`medgrpo`) never imports Airflow; this small package does, and holds the one
definition of what several DAGs share: the Assets that chain them and the form fields derived from
library definitions (formats, launch backends, gate fields). Everything here is cheap to import,
because the scheduler's DAG processor imports it while parsing.
"""
