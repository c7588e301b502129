"""carbontwin.simulation: replay a production plan in a SimPy factory under other policies.

The simulator emits the same twin events as a real line (state changes, meter
samples, order steps, material use), so its results go through the unchanged
attribution engine; scenarios compare policies by KPIs with confidence
intervals over seeded replications.
"""

from .plan import Calendar, Job
from .policies import (
    EDD,
    FIFO,
    SPT,
    Batching,
    CarbonAwareRelease,
    IdleShutdown,
    Policy,
    ReleaseContext,
    combine,
    get_policy,
    policy_names,
)
from .sim import SimResult, simulate
from .tariffs import TariffPeriod, TimeOfUseTariff

__all__ = [
    "EDD",
    "FIFO",
    "SPT",
    "Batching",
    "Calendar",
    "CarbonAwareRelease",
    "IdleShutdown",
    "Job",
    "Policy",
    "ReleaseContext",
    "SimResult",
    "TariffPeriod",
    "TimeOfUseTariff",
    "combine",
    "get_policy",
    "policy_names",
    "simulate",
]
