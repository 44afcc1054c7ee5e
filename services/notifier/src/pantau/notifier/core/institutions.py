"""Institutions that act on reports (DESIGN.md's taxonomy), with their spellings."""

INSTITUTIONS = (
    "KPU",
    "Bawaslu",
    "DKPP",
    "Gakkumdu",
    "BKN",
    "BPBD",
    "Polri",
    "Komdigi",
    "Tim Regional",
    "Operator",
)
_ALIASES = {
    **{name.casefold(): name for name in INSTITUTIONS},
    "police": "Polri",
    "polisi": "Polri",
    "kepolisian": "Polri",
    "regional team": "Tim Regional",
    "regional_team": "Tim Regional",
    "tim_regional": "Tim Regional",
    "kasn": "BKN",
    "kominfo": "Komdigi",
}


def canonical_institution(name: str) -> str:
    """The directory's spelling of an institution; raises ``ValueError`` if unknown."""
    found = _ALIASES.get(name.strip().casefold())
    if found is None:
        raise ValueError(f"unknown institution {name!r}; one of {', '.join(INSTITUTIONS)}")
    return found


def lenient_institution(name: str) -> str:
    """The directory's spelling when known, else the name as given (from the classifier)."""
    return _ALIASES.get(name.strip().casefold(), name.strip())
