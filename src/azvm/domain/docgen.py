"""docs/states.md, generated from the transition table: never edited by hand."""

from __future__ import annotations

from .states import PowerState, Prov
from .table import TABLE, Op, Situation, Table, graph


def render_states_doc(table: Table = TABLE) -> str:
    out: list[str] = [
        "# VM states and operations",
        "",
        "Generated from `src/azvm/domain/transitions.json` by `azvm states-doc -o docs/states.md`;"
        " a test keeps this page equal to the table.",
        "",
        "## Power states (instance view, second status, no `time`)",
        "",
        "| code | displayStatus | level |",
        "|---|---|---|",
    ]
    for p in PowerState:
        out.append(f"| `{p.code}` | {p.display} | Info |")
    out += ["", "`PowerState/unknown` is not a state a VM passes through: it is what a faulty read shows.", "",
            "## Provisioning states (`properties.provisioningState`, and the first status with a `time`)", "",
            "| code | displayStatus | provisioningState |", "|---|---|---|"]
    for pv in Prov:
        code = "ProvisioningState/failed/<ErrorCode>" if pv == Prov.FAILED else f"ProvisioningState/{pv.value}"
        out.append(f"| `{code}` | {pv.display} | {pv.provisioning_state.value} |")
    out += ["", "## Situations", "", "| situation | meaning |", "|---|---|"]
    out += [f"| {s.value} | {d} |" for s, d in table.situations.items()]
    out += ["", "## Diagram", "", "```mermaid", "stateDiagram-v2", f"    [*] --> {Situation.ABSENT.value}"]
    edges = graph(table)
    for s in Situation:
        for t in sorted(edges[s]):
            if t != s:
                out.append(f"    {s.value} --> {t.value}")
    out += [f"    {Situation.DELETED.value} --> [*]", "```", "",
            "## Every (situation, operation) pair", "",
            "Phases are `provisioning sub-state / power state (duration key)`; durations per profile below."
            " Where an operation is accepted while another runs, the older one ends `Canceled`"
            " (`OperationPreempted`).", "",
            "| situation | operation | outcome | phases, then final | evidence |", "|---|---|---|---|---|"]
    for (s, op), rule in sorted(table.rules.items(), key=lambda kv: (list(Situation).index(kv[0][0]),
                                                                      list(Op).index(kv[0][1]))):
        if rule.refuse:
            detail = "409 `OperationNotAllowed`: " + table.messages[rule.refuse].replace("{op}", op.wire_name)
        elif rule.join:
            detail = "same phases as the ongoing delete"
        else:
            assert rule.final is not None
            steps = ", ".join(f"{st.prov}/{st.power} ({st.duration})" for st in rule.steps)
            f = rule.final
            final = "deleted" if f.power is None else f"{f.prov}/{f.power}" + (
                f" (hibernation: {f.hibernated})" if f.hibernated != "no" else "")
            detail = f"{steps} → {final}"
        out.append(f"| {s.value} | {op.value} | {rule.outcome} | {detail} | {table.evidence[rule.evidence]} |")
    out += ["", "An operation on an absent VM other than a create answers 404 `ResourceNotFound`; a PUT on an"
            " existing VM is an `update`.", "", "## Duration profiles (seconds)", ""]
    keys = sorted({k for p in table.profiles.values() for k in p})
    out.append("| key | " + " | ".join(table.profiles) + " |")
    out.append("|---|" + "---|" * len(table.profiles))
    for k in keys:
        out.append(f"| {k} | " + " | ".join(f"{p[k]:g}" for p in table.profiles.values()) + " |")
    return "\n".join(out) + "\n"
