"""The running product: the snapshot of loaded components, how they are loaded,
and the engine that keeps them current. No HTTP here."""
from hotline.runtime.engine import Engine
from hotline.runtime.snapshot import COMPONENTS, Snapshot

__all__ = ["Engine", "Snapshot", "COMPONENTS"]
