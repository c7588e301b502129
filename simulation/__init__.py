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
    AsIs,
    Batching,
    CarbonAwareRelease,
    IdleShutdown,
    Policy,
    ReleaseContext,
    combine,
    get_policy,
    policy_names,
)
from .scenario import Candidate, Scenario, ScenarioReport, load_scenario, run_scenario
from .sim import SimResult, processing_times, simulate
from .tariffs import TariffPeriod, TimeOfUseTariff

__all__ = [
    "EDD",
    "AsIs",
    "FIFO",
    "SPT",
    "Batching",
    "Calendar",
    "Candidate",
    "CarbonAwareRelease",
    "IdleShutdown",
    "Job",
    "Policy",
    "ReleaseContext",
    "Scenario",
    "ScenarioReport",
    "SimResult",
    "TariffPeriod",
    "TimeOfUseTariff",
    "combine",
    "get_policy",
    "load_scenario",
    "policy_names",
    "processing_times",
    "run_scenario",
    "simulate",
]
