"""Alerts as ingested: one row per alert (ZTF or Rubin), its three stamps, and per-object light-curve points.

One model for two surveys. The columns pages, filters and exports use keep their ZTF names and carry the same
meaning for a Rubin alert, mapped at ingest (``labeling.ingest.rubin``):

===================  ==========================  ====================================================
column               ZTF                         Rubin (``lsst.vX_Y``)
===================  ==========================  ====================================================
``survey``           "ztf"                       "rubin"
``candid``           candid                      diaSource.diaSourceId
``object_id``        objectId                    diaObjectId as text; an asteroid's "ss" + ssObjectId
``jd``               candidate.jd                diaSource.midpointMjdTai + 2400000.5, TAI made UTC
``fid``              fid 1, 2, 3 (g, r, i)       band letter: g 1, r 2, i 3, u 4, z 5, y 6
``ra``, ``dec``      candidate.ra/dec            diaSource.ra/dec
``magpsf``           magpsf                      31.4 - 2.5 log10(psfFlux / nJy) (null when flux <= 0)
``sigmapsf``         sigmapsf                    1.0857 psfFluxErr / psfFlux
``diffmaglim``       diffmaglim                  5-sigma limit, 31.4 - 2.5 log10(5 psfFluxErr)
``isdiffpos``        isdiffpos                   not diaSource.isNegative
``drb``              drb (real/bogus score)      diaSource.reliability
``snr``              null (``signal_to_noise``)  diaSource.snr
``ssnamenr``         ssnamenr                    mpc_orbits / ssSource / MPCORB designation, else
                                                 ssObjectId ("" when no known asteroid)
``ndethist``         ndethist                    diaObject.nDiaSources
``jdstarthist``      jdstarthist                 diaObject.firstDiaSourceMjdTai as JD
``flux_njy`` (+err)  null                        diaSource.psfFlux, psfFluxErr (nJy)
``LightCurvePoint``  prv_candidates, flux null   prvDiaSources (detections), prvDiaForcedSources
                                                 (non-detections keeping their flux): psfFlux(Err)
``candidate``        the candidate record        the diaSource record, whole
``survey_extra``     null                        diaObject, ssSource, MPCORB / mpc_orbits, scheduler labels
===================  ==========================  ====================================================
"""

from __future__ import annotations

import zlib

import numpy as np
from django.db import models

try:  # ISA-L inflates about twice as fast as zlib, and reads the same streams
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - isal is in requirements.txt
    _inflate_lib = zlib

STAMP_KINDS = ("science", "template", "difference")
# ZTF's fid values; Rubin's bands share the letter's number, and u, z and y (Rubin only) follow.
FILTER_NAMES = {1: "g", 2: "r", 3: "i", 4: "u", 5: "z", 6: "y"}
SURVEYS = (("ztf", "ZTF"), ("rubin", "Rubin"))
# Arcseconds of sky per cutout pixel, by survey: what the pages say beside a stamp (ZTF 63x63 px, Rubin 30x30 to
# 71x71 px), and so how much sky a stamp covers. The one place the scales are written down.
PIXEL_SCALE_ARCSEC = {"ztf": 1.0, "rubin": 0.2}
# AB magnitude of a flux in nJy: m = 31.4 - 2.5 log10(f / nJy), since 3631 Jy is m = 0.
NJY_AB_ZEROPOINT = 31.4
# 2.5 / ln 10: a magnitude error from a relative flux error (and a S/N from a magnitude error).
MAG_PER_RELATIVE_FLUX = 1.0857362047581294
GZIP_MAGIC = b"\x1f\x8b"
FITS_BLOCK = 2880


def fits_data_offset(raw_length: int, height: int, width: int) -> int:
    """Where the pixels of a one-HDU float32 FITS image of ``raw_length`` bytes start: the data are the last
    ``ceil(4 * height * width / 2880)`` blocks of 2880 bytes, the header all the blocks before them."""
    padded = -(-4 * height * width // FITS_BLOCK) * FITS_BLOCK
    return raw_length - padded


def stamp_array(blob, height: int, width: int) -> np.ndarray:
    """A stored stamp as a ``height`` x ``width`` float32 array (native byte order, NaN where no pixel).

    Stored stamps come in two encodings, told apart by their first two bytes:
    - a zlib stream of little-endian float32 (``Stamps.pack``);
    - the packet's own gzip stream, kept as the survey sent it when ingest found it to hold a plain image: one
      HDU, BITPIX -32, no scaling, no infinities, nothing after the data but FITS padding
      (``labeling.ingest.fits.decode_stamp_checked``). Ingest parsed and checked that header once; here the pixels
      are read at the offset its layout fixes (``fits_data_offset``), with no header parsing: an inflate and a
      slice, the same work as for the zlib form. Keeping it saves ingest re-compressing ~48 kB per alert,
      its dearest step after inflating, at the same size (ZTF's gzip is as small as our own deflate).
    """
    data = bytes(blob)
    if data[:2] == GZIP_MAGIC:
        raw = _inflate_lib.decompress(data, 31)
        offset = fits_data_offset(len(raw), height, width)
        if offset < FITS_BLOCK or offset % FITS_BLOCK:
            raise ValueError(f"stored stamp is not a {width}x{height} float32 FITS image ({len(raw)} bytes)")
        return (
            np.frombuffer(raw, dtype=">f4", count=height * width, offset=offset)
            .reshape(height, width)
            .astype(np.float32)
        )
    return np.frombuffer(_inflate_lib.decompress(data), dtype="<f4").reshape(height, width)


class Alert(models.Model):
    """One alert packet. Fields people filter on are real (indexed) columns; the packet's whole
    ``candidate`` record stays in ``candidate`` so nothing the survey sent is lost. A Rubin alert's columns
    are mapped from its diaSource as the module docstring's table says."""

    # Not indexed: two values (see Meta). ZTF rows, all of them before Rubin, take the default; a database default
    # too, so bulk SQL that copies or fills alerts (the benches) needs no survey column.
    survey = models.CharField(max_length=8, choices=SURVEYS, default="ztf", db_default="ztf")
    candid = models.BigIntegerField(unique=True)
    object_id = models.CharField(max_length=32)
    schemavsn = models.CharField(max_length=16, blank=True)
    publisher = models.CharField(max_length=64, blank=True)

    jd = models.FloatField(db_index=True)
    night = models.DateField(db_index=True, help_text="UTC date of the exposure")
    nid = models.IntegerField(null=True, blank=True, db_index=True)
    fid = models.SmallIntegerField()
    ra = models.FloatField()
    dec = models.FloatField()
    gal_l = models.FloatField(help_text="Galactic longitude, degrees (astropy)")
    gal_b = models.FloatField(db_index=True, help_text="Galactic latitude, degrees (astropy)")

    magpsf = models.FloatField(null=True, blank=True, db_index=True)
    sigmapsf = models.FloatField(null=True, blank=True)
    diffmaglim = models.FloatField(null=True, blank=True)
    isdiffpos = models.BooleanField(help_text="True for a positive subtraction ('t' or '1')")
    rb = models.FloatField(null=True, blank=True, db_index=True)
    drb = models.FloatField(null=True, blank=True, db_index=True)
    fwhm = models.FloatField(null=True, blank=True, db_index=True)
    elong = models.FloatField(null=True, blank=True, db_index=True)
    classtar = models.FloatField(null=True, blank=True)
    nbad = models.IntegerField(null=True, blank=True)
    magdiff = models.FloatField(null=True, blank=True)
    # ZTF writes -999 for "no PS1 / solar-system match"; those become NULL here, the raw value stays in candidate.
    sgscore1 = models.FloatField(null=True, blank=True, db_index=True)
    distpsnr1 = models.FloatField(null=True, blank=True, db_index=True)
    ssdistnr = models.FloatField(null=True, blank=True, db_index=True)
    ssnamenr = models.CharField(max_length=64, blank=True)
    ssmagnr = models.FloatField(null=True, blank=True)
    ndethist = models.IntegerField(null=True, blank=True, db_index=True)
    ncovhist = models.IntegerField(null=True, blank=True)
    jdstarthist = models.FloatField(null=True, blank=True)
    programid = models.SmallIntegerField(null=True, blank=True)
    field = models.IntegerField(null=True, blank=True)
    rcid = models.IntegerField(null=True, blank=True)

    # Rubin measures fluxes (nJy); magpsf holds the AB magnitude made of them, these the flux as sent.
    flux_njy = models.FloatField(null=True, blank=True, help_text="Rubin diaSource.psfFlux, nJy")
    flux_err_njy = models.FloatField(null=True, blank=True, help_text="Rubin diaSource.psfFluxErr, nJy")
    snr = models.FloatField(null=True, blank=True, help_text="Rubin diaSource.snr; null for ZTF")

    candidate = models.JSONField(help_text="The packet's whole candidate record (Rubin: its diaSource), as sent")
    survey_extra = models.JSONField(
        null=True, blank=True, help_text="Rubin: diaObject, ssSource, MPCORB / mpc_orbits, scheduler labels"
    )
    source = models.CharField(max_length=500, blank=True, help_text="File (and row) this alert was read from")
    # Known truth of generated demo alerts ("real", "masked_star", ...); empty for real survey alerts.
    demo_truth = models.CharField(max_length=32, blank=True)
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-jd"]
        # Every index costs each ingested alert an insert (a million a night). Not indexed on purpose: fid,
        # isdiffpos and programid (two or three values each, so the planner would scan anyway; campaign filters
        # meet them beside rb, gal_b or night, which are indexed); object_id alone (this composite serves
        # equality on it); demo_truth's LIKE index (it is only compared whole).
        indexes = [
            models.Index(fields=["object_id", "jd"], name="alert_object_jd"),
            models.Index(fields=["demo_truth"], name="alert_demo_truth"),
        ]

    def __str__(self) -> str:
        return f"{self.object_id} {self.candid}"

    @property
    def filter_name(self) -> str:
        return FILTER_NAMES.get(self.fid, str(self.fid))

    @property
    def signal_to_noise(self) -> float | None:
        """The survey's S/N; ZTF sends none, so it comes from the magnitude error (1.0857 / sigmapsf)."""
        if self.snr is not None:
            return self.snr
        if self.sigmapsf:
            return MAG_PER_RELATIVE_FLUX / self.sigmapsf
        return None

    @property
    def pixel_scale_arcsec(self) -> float:
        return PIXEL_SCALE_ARCSEC.get(self.survey, PIXEL_SCALE_ARCSEC["ztf"])

    @property
    def is_demo(self) -> bool:
        return bool(self.demo_truth)

    @property
    def days_since_first_detection(self) -> float | None:
        if self.jdstarthist is None:
            return None
        return self.jd - self.jdstarthist


class Stamps(models.Model):
    """The three cutouts, decoded and checked once at ingest: float32, row-major, compressed (``stamp_array``
    reads both stored encodings). NaN pixels are kept as NaN (the renderer shows them distinctly;
    preprocessing replaces them)."""

    alert = models.OneToOneField(Alert, on_delete=models.CASCADE, primary_key=True, related_name="stamps")
    height = models.SmallIntegerField()
    width = models.SmallIntegerField()
    science = models.BinaryField()
    template = models.BinaryField()
    difference = models.BinaryField()
    nan_fraction = models.FloatField(default=0.0)

    @staticmethod
    def pack(array: np.ndarray) -> bytes:
        # Huffman-only deflate: noisy float32 pixels have almost no repeats for LZ77 to find, so this keeps
        # level 1's ratio in a fraction of its time, which ingest's throughput target
        # needs. Still a plain zlib stream: unpack() and every stored row read the same.
        packer = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_HUFFMAN_ONLY)
        return packer.compress(np.ascontiguousarray(array, dtype="<f4").tobytes()) + packer.flush()

    def unpack(self, kind: str) -> np.ndarray:
        if kind not in STAMP_KINDS:
            raise ValueError(f"unknown stamp kind {kind!r}; expected one of {STAMP_KINDS}")
        return stamp_array(getattr(self, kind), self.height, self.width)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(self.unpack(kind) for kind in STAMP_KINDS)


class StampPlane(models.Model):
    """A cutout's plane beyond the image, at its own size: Rubin sends each cutout with its variance and its
    PSF (``PLANES``). Same storage as a stamp (``Stamps.pack``: zlib of little-endian float32)."""

    PLANES = ("variance", "psf")

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="stamp_planes")
    kind = models.CharField(max_length=16, help_text="science, template or difference")
    plane = models.CharField(max_length=16, help_text="variance or psf")
    height = models.SmallIntegerField()
    width = models.SmallIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "kind", "plane"], name="stamp_plane_unique")]

    def array(self) -> np.ndarray:
        return stamp_array(self.data, self.height, self.width)


class LightCurvePoint(models.Model):
    """A detection or a non-detection (upper limit) at an object's position, deduplicated across the
    alerts of that object: the same (object, jd, filter) is stored once.

    Rubin measures a flux at every visit, detected or not (forced photometry): ``flux_njy`` keeps it, so a
    non-detection is a point with an error bar in flux and an upper limit (``diffmaglim``) in magnitude. ZTF
    sends magnitudes only; its points leave the flux null."""

    object_id = models.CharField(max_length=32)
    jd = models.FloatField()
    fid = models.SmallIntegerField()
    is_detection = models.BooleanField()
    magpsf = models.FloatField(null=True, blank=True)
    sigmapsf = models.FloatField(null=True, blank=True)
    diffmaglim = models.FloatField(null=True, blank=True)
    isdiffpos = models.BooleanField(null=True, blank=True)
    # Fink Parquet sometimes stores prv candid as a double (precision lost); never used as a key.
    candid = models.BigIntegerField(null=True, blank=True)
    programid = models.SmallIntegerField(null=True, blank=True)
    flux_njy = models.FloatField(null=True, blank=True, help_text="Rubin psfFlux (nJy), forced sources too")
    flux_err_njy = models.FloatField(null=True, blank=True, help_text="Rubin psfFluxErr (nJy)")

    class Meta:
        ordering = ["jd"]
        constraints = [models.UniqueConstraint(fields=["object_id", "jd", "fid"], name="lightcurve_point_unique")]
