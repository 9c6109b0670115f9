"""azvm.billing: a pure billing meter for Azure VM timelines.

Meter first (integer seconds per VM, state, size and UTC day), price second (exact amounts on the
aggregates), round once for display. Standard library only; no other azvm package is imported.
"""

from .bill import GROUP_BY, Bill, LineItem, Unpriced, bill, vm_costs
from .columns import ColumnsBuilder, Fold, UsageColumns
from .explain import (
    DiskInterval,
    ExplainedInterval,
    Explanation,
    WhatIf,
    WhatIfVm,
    explain,
    explain_resource,
    what_if_deallocate,
)
from .export import (
    COST_COLUMNS,
    QUERY_GROUPINGS,
    CostRecord,
    cost_records,
    cost_records_json,
    query_costs,
    write_cost_csv,
)
from .history import (
    HistoryError,
    HistoryProblem,
    normalize_power_state,
    read_history,
    read_history_csv,
    read_history_json,
)
from .meter import day_cells
from .model import (
    BILLING_STATES,
    RESOURCE_KINDS,
    SECONDS_PER_MONTH,
    US_PER_SECOND,
    BillingError,
    DiskSpan,
    ResourceSpan,
    StateChange,
)
from .money import display
from .prices import (
    Meter,
    PriceSheet,
    PriceSheetError,
    disk_meter_name,
    load_prices,
    parse_prices,
    public_ip_meter_name,
    sample_prices,
)
from .resources import ResourceInterval
from .rules import (
    BUILTIN_RULE_SETS,
    DEFAULT_RULE_SET,
    RuleSet,
    RuleSetError,
    StateRule,
    load_rules,
    parse_rules,
    rule_set,
)

__all__ = [
    "BILLING_STATES",
    "BUILTIN_RULE_SETS",
    "COST_COLUMNS",
    "DEFAULT_RULE_SET",
    "GROUP_BY",
    "QUERY_GROUPINGS",
    "RESOURCE_KINDS",
    "SECONDS_PER_MONTH",
    "US_PER_SECOND",
    "Bill",
    "BillingError",
    "ColumnsBuilder",
    "CostRecord",
    "DiskInterval",
    "DiskSpan",
    "Fold",
    "ExplainedInterval",
    "Explanation",
    "HistoryError",
    "HistoryProblem",
    "LineItem",
    "Meter",
    "PriceSheet",
    "PriceSheetError",
    "ResourceInterval",
    "ResourceSpan",
    "RuleSet",
    "RuleSetError",
    "StateChange",
    "StateRule",
    "Unpriced",
    "UsageColumns",
    "WhatIf",
    "WhatIfVm",
    "bill",
    "cost_records",
    "cost_records_json",
    "day_cells",
    "disk_meter_name",
    "display",
    "explain",
    "explain_resource",
    "load_prices",
    "load_rules",
    "normalize_power_state",
    "parse_prices",
    "parse_rules",
    "public_ip_meter_name",
    "query_costs",
    "read_history",
    "read_history_csv",
    "read_history_json",
    "rule_set",
    "sample_prices",
    "vm_costs",
    "what_if_deallocate",
    "write_cost_csv",
]
