"""`renkei demo` end to end, on both backends: what a newcomer sees."""

from __future__ import annotations

import io

from e2e_env import Env

from renkei.demo import run_demo


async def test_demo_runs_the_claim_season_and_verifies_the_chain(env: Env) -> None:
    out = io.StringIO()
    assert await run_demo(env.settings, env.state, residents=120, seed=7, out=out) == 0
    text = out.getvalue()
    bus = "in-process bus" if env.kind == "memory" else "RabbitMQ"
    assert bus in text.splitlines()[0]
    assert "0 refused) in" in text  # every office record enrolled
    assert "refused routing.no_row" in text  # the legal table's refusal is shown
    assert "queries by outcome: ok " in text and "refused 2" in text
    assert "error" not in text.split("queries by outcome:")[1].splitlines()[0]
    assert "the chain is intact" in text
    assert "directory: held by shinjuku-resident; ended at chiyoda-child, chiyoda-resident" in text
    # issue 17: office kinds as the law says, a claim across municipalities, beyond the ward
    assert "is a prefecture" not in text.replace("acting as prefecture", "")
    # 庁内連携: the ward's applicants checked in-house, no network query; the network refuses
    # a query between two offices of the ward, and the access records show none of them
    assert "in-house (庁内連携)" in text and "— 0 network queries" in text
    assert (
        "refused routing.in_house: chiyoda-child and chiyoda-tax are offices of one"
        " municipality (131016)"
    ) in text
    records = text.split("access records of")[1].split("record chain:")[0]
    assert "asked chiyoda-resident for resident_record" not in records
    assert "chiyoda-child asked chiyoda-tax for local_tax:" not in text  # the claim's part
    assert "chiyoda-child asked shinjuku-tax for local_tax: ok" in text  # 1 January's
    assert "CM0000001: eligible" in text
    assert "chiyoda-care asked nenkin for pension_benefit (long_term_care): ok" in text
    assert "chiyoda-disability asked tokyo-pref for disability (independence_support): ok" in text
