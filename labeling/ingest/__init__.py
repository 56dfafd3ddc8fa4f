"""Alert ingestion: ZTF and Rubin alerts (Avro packets, Fink Parquet tables, Rubin framed records) in,
``Alert`` + ``Stamps`` + ``LightCurvePoint`` rows (and a Rubin cutout's variance and PSF, ``StampPlane``) out.

One entry point, ``ingest_paths(paths)``, used by ``manage.py ingest_alerts``, ``setup_demo`` and the tests;
after it has stored new alerts it sends ``labeling.signals.alerts_ingested``. The steps, one module each:

- ``files``: the files named, under directories or matched by globs; every packet of one file (``read_file``),
- ``avro``: Avro containers, decoded by code ``avro_fast`` generates per writer schema (fastavro the fallback),
- ``fits``: cutouts, gzip + FITS into checked float32 arrays,
- ``prepare``: a packet validated and turned into rows before anything is written, so a bad packet is refused
  with a message naming the file, the candid (when known) and the reason, and never half-written,
- ``rows``: what preparing makes (``PreparedAlert``) and the checks its rows pass, for both surveys,
- ``rubin``, ``rubin_fits``, ``rubin_files``, ``rubin_schemas``: Rubin alerts mapped onto the same columns
  (the mapping: ``labeling.models.alerts``), their three-plane FITS cutouts, Fink's Parquet tables, and the
  stream framing with the schemas shipped in ``schemas/lsst/`` (a new version is a schema file, not code),
- ``writer``: batches of rows stored, each in one transaction (binary COPY on PostgreSQL),
- ``workers``: with many files, worker processes share them out (``labeling.ingest_worker`` runs in them),
- ``pipeline``: ``ingest_paths``, which ties them together.

How it stays fast (the target is a ZTF night, ~1 million alerts, in under 17 minutes on 2 cores): the writer
schema is parsed once per distinct schema (not once per file) and skipped fields are never built; plain
float32 stamps are stored as the packet's own gzip stream; Galactic coordinates come from one constant
rotation matrix; rows go in by COPY; and two worker processes, forked where that is safe, each decode and
store their share of the files.
"""

from labeling.ingest.files import expand_paths, read_file
from labeling.ingest.fits import decode_stamp
from labeling.ingest.packets import AlertRejected, FileUnreadable
from labeling.ingest.pipeline import ingest_paths
from labeling.ingest.prepare import prepare_file
from labeling.ingest.writer import IngestReport

__all__ = [
    "AlertRejected",
    "FileUnreadable",
    "IngestReport",
    "decode_stamp",
    "expand_paths",
    "ingest_paths",
    "prepare_file",
    "read_file",
]
