"""Registry housekeeping: list the versions of the registered model, apply the retention policy.

- :mod:`~medgrpo.registry_admin.listing`: one row per version (aliases, gate verdict, dataset, age,
  whether its artifacts are still stored).
- :mod:`~medgrpo.registry_admin.retention`: remove the stored artifacts of old versions that are
  neither aliased nor recently gated, record it in the version's tags; never ``champion`` or
  ``previous_champion``.
- :mod:`~medgrpo.registry_admin.commands`: ``medgrpo registry list | retain``.
"""
