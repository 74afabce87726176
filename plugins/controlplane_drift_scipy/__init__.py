"""The built-in drift detectors, on scipy: ``ks``, ``chi2``, ``psi``, ``jensen-shannon`` and
``wasserstein`` (docs/plugins-drift-detectors.md).

Registered through the entry point ``drift-scipy`` of the group ``controlplane``, like any
plugin, with ``trylast=True`` so a third-party plugin that registers one of these names
replaces it. Importing this package imports numpy but not scipy: each detector imports scipy
when it first runs, so a server that never runs one does not pay for it at start.
"""

from __future__ import annotations

from controlplane.hookspecs import hookimpl
from controlplane.registry import Registry
from controlplane_drift_scipy.chi2 import ChiSquareDetector
from controlplane_drift_scipy.jensen_shannon import JensenShannonDetector
from controlplane_drift_scipy.ks import KolmogorovSmirnovDetector
from controlplane_drift_scipy.psi import PopulationStabilityIndexDetector
from controlplane_drift_scipy.wasserstein import WassersteinDetector

__all__ = [
    "ChiSquareDetector",
    "JensenShannonDetector",
    "KolmogorovSmirnovDetector",
    "PopulationStabilityIndexDetector",
    "WassersteinDetector",
    "controlplane_register_drift_detectors",
]


@hookimpl(trylast=True)
def controlplane_register_drift_detectors(registry: Registry) -> None:
    """The five detectors, each under its ``name``; each class is its own factory."""
    for detector in (
        KolmogorovSmirnovDetector,
        ChiSquareDetector,
        PopulationStabilityIndexDetector,
        JensenShannonDetector,
        WassersteinDetector,
    ):
        registry.add_drift_detector(detector.name, detector)
