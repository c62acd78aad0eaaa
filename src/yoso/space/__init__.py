"""The joint DNN x accelerator search space: encoding, Genotype, Accelerator, op vocabulary, known genotypes."""

from yoso.space.accelerator import DATAFLOWS, Accelerator, AcceleratorSpace
from yoso.space.genotype import CELL_TYPES, Genotype, GenotypeError
from yoso.space.joint import CellSpace, Decision, JointSpace, PrecisionSpace
from yoso.space.known import KNOWN_GENOTYPES, SOURCES, known_genotype, load_genotype

__all__ = [
    "DATAFLOWS",
    "Accelerator",
    "AcceleratorSpace",
    "CELL_TYPES",
    "Genotype",
    "GenotypeError",
    "CellSpace",
    "Decision",
    "JointSpace",
    "PrecisionSpace",
    "KNOWN_GENOTYPES",
    "SOURCES",
    "known_genotype",
    "load_genotype",
]
