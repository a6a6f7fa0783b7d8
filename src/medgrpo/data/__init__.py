"""medgrpo.data: every public medical QA format in, one canonical schema out.

- :mod:`~medgrpo.data.schema`   the canonical record (pydantic), stable ids, normalisation
- :mod:`~medgrpo.data.sources`  files, folders, s3:// prefixes, hf:// datasets, read incrementally
- :mod:`~medgrpo.data.formats`  one converter per DESIGN §6 format, and format detection
- :mod:`~medgrpo.data.ingest`   prepare → deidentify_shard → finalize (and ``ingest`` = all three)
- :mod:`~medgrpo.data.dataset`  read a published dataset, verified against its manifest
- :mod:`~medgrpo.data.lineage`  the dataset as MLflow inputs in experiment ``medgrpo/ingest``
- :mod:`~medgrpo.data.synth`    verifiable clinical-calculation problems
- :mod:`~medgrpo.data.prompt`   the prompt shared by training and evaluation
"""

#: MedMCQA ``cop`` numberings that can be stated instead of detected (``medgrpo ingest
#: --medmcqa-cop-base``, the medical_ingest form); here so the CLI parser needs no heavy import.
MEDMCQA_COP_BASES = {0: "0-3 (the hub's parquet release)", 1: "1-4 (the original JSON release)"}
#: A dataset name (``medgrpo ingest --name``, the medical_ingest form): one path-safe component.
DATASET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
