"""analysis_scripts/claims_mnist1d.py: the paired-interval arithmetic of docs/results.md's
"Claims at a glance" (against hand-computed Student t references) and its row builder on a
planted record."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "analysis_scripts"

# scipy.stats.t.ppf(0.975, df), written out: the references do not call the code under test
T975 = {2: 4.302652729749462, 4: 2.7764451051977934}


@pytest.fixture
def claims(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import claims_mnist1d

    return claims_mnist1d


def test_interval_of_paired_differences_matches_hand_computation(claims):
    # a − b = 1, 2, 3: mean 2, sd 1, half-width t_{0.975,2}·1/√3
    r = claims.compare(claims.Comparison("x", "a", "b", [11, 12, 13], [10, 10, 10], +1))
    assert r["diffs"] == [1, 2, 3] and r["mean"] == pytest.approx(2) and r["sd"] == pytest.approx(1)
    half = T975[2] / math.sqrt(3)
    assert r["half_width"] == pytest.approx(half, rel=1e-12)
    assert r["ci95"] == pytest.approx([2 - half, 2 + half], rel=1e-12)
    assert r["verdict"] == "unresolved"  # 2 − 2.484 < 0
    assert r["seeds_to_resolve"] == 4  # t_{0.975,3}/√4 = 1.591 < 2; t_{0.975,2}/√3 = 2.484 ≥ 2
    # five differences 0.1·(1..5) on the negative side: mean −0.3, sd √(0.025)
    r = claims.compare(claims.Comparison("y", "a", "b", [0] * 5, [0.1, 0.2, 0.3, 0.4, 0.5], -1))
    half = T975[4] * math.sqrt(0.025) / math.sqrt(5)
    assert r["ci95"] == pytest.approx([-0.3 - half, -0.3 + half], rel=1e-9)
    assert r["verdict"] == "agrees" and "seeds_to_resolve" not in r


def test_seeds_to_resolve(claims):
    # t_{0.975,n−1}/√n: n = 6 → 1.049, n = 7 → 0.925, so |mean| = sd needs 7 seeds
    assert claims.seeds_to_resolve(1.0, 1.0) == 7
    assert claims.seeds_to_resolve(-1.0, 1.0) == 7
    assert claims.seeds_to_resolve(1.05, 1.0) == 6
    assert claims.seeds_to_resolve(0.3, 0.0) == 2  # no spread: two seeds
    assert claims.seeds_to_resolve(0.0, 1.0) is None  # mean 0: no seed count resolves it
    assert claims.seeds_to_resolve(1e-3, 1.0, limit=50) is None  # beyond the limit


def test_verdicts_and_unresolvable_zero_mean(claims):
    assert claims.verdict(0.1, 0.5, +1) == "agrees"
    assert claims.verdict(0.1, 0.5, -1) == "opposite"
    assert claims.verdict(-0.5, -0.1, -1) == "agrees"
    assert claims.verdict(-0.1, 0.5, +1) == "unresolved"
    assert claims.verdict(-0.1, 0.5, 0) == "no difference resolved"
    assert claims.verdict(0.1, 0.5, 0) == "differs"
    r = claims.compare(claims.Comparison("z", "a", "b", [1, 2, 3], [2, 1, 3], +1))
    assert r["mean"] == 0 and r["verdict"] == "unresolved"
    assert r["seeds_to_resolve"] is None and "not resolvable at this effect" in r["resolve_note"]


def test_test_sample_standard_error(claims):
    # the issue's number: 97% accuracy on 1,000 test samples has s.e. 0.54 points
    assert claims.test_standard_error(0.97, 1000) == pytest.approx(math.sqrt(0.97 * 0.03 / 1000))
    assert 100 * claims.test_standard_error(0.97, 1000) == pytest.approx(0.539, abs=5e-4)
    assert claims.test_samples_of({}) == 1000
    assert claims.test_samples_of({"test_samples": [10000]}) == 10000


def test_missing_per_seed_values_say_so(claims):
    r = claims.compare(claims.Comparison("w", "a", "b", None, None, +1))
    assert r["verdict"] == "per-seed values not recorded" and r["n"] == 0
    assert "per-seed values not recorded" in claims.format_comparison(r)
    with pytest.raises(ValueError, match="2 values of a against 3 of b"):
        claims.compare(claims.Comparison("v", "a", "b", [1, 2], [1, 2, 3], +1))


def test_row_builder_on_a_planted_record(claims):
    """A planted IMP-WR/LRR/FT record: FT is 2 points (−1.5, −2, −2.5 per seed) below WR at
    level 10 and level with LRR on average at level 6; every other builder finds no record."""
    levels = 11
    wr = [[0.70, 0.70, 0.70] for _ in range(levels)]
    lrr = [[0.70, 0.70, 0.70] for _ in range(levels)]
    ft = [[0.70, 0.70, 0.70] for _ in range(levels)]
    ft[10] = [0.685, 0.68, 0.675]  # FT − WR at level 10: −1.5, −2, −2.5 points
    ft[6] = [0.71, 0.70, 0.69]  # FT − LRR at level 6: +1, 0, −1 points
    record = {"seeds": [0, 1, 2], "test_samples": [10000],
              "density": [0.8**k for k in range(levels)],
              "runs": {"IMP-WR": {"test_accuracy": wr}, "IMP-LRR": {"test_accuracy": lrr},
                       "IMP-FT": {"test_accuracy": ft}}}  # fmt: skip
    built = claims.build_rows({"imp_methods_mnist1d_test10000": record})
    assert len(built) == 1
    row, results = built[0]
    by = {(r["label"], r["arm_b"]): r for r in results}
    last = by["10.7%", "IMP-WR"]
    half = T975[2] * 0.005 / math.sqrt(3)  # sd of the differences: 0.5 points
    assert last["mean"] == pytest.approx(-0.02) and last["ci95"] == pytest.approx(
        [-0.02 - half, -0.02 + half]
    )
    assert last["verdict"] == "agrees"  # [−3.24, −0.76] points: below 0, as the paper says
    assert last["test_se_a"] == pytest.approx(math.sqrt(0.68 * 0.32 / 10000))
    mid = by["26.2%", "IMP-LRR"]
    assert mid["mean"] == pytest.approx(0, abs=1e-12) and mid["verdict"] == "unresolved"
    assert mid["resolve_note"] == "not resolvable at this effect: mean 0"
    assert by["16.8%", "IMP-WR"]["verdict"] == "unresolved"  # all-equal arms: mean 0, sd 0
    line = claims.markdown_row(row, results, [c.digits for c in row.comparisons])
    assert line.startswith('| [ZIMMER] "Renda et al.') and line.endswith("| **partly** |")
    assert "10.7%: IMP-FT − IMP-WR -2.0 [" in line and "n = 10,000" in line


def test_table2_builder_on_a_planted_record(claims):
    """A planted [ZIMMER] Table 2 record: DPF beats BIMP by 2, 3, 4 points per seed (opposite
    to the paper's "BIMP outperforms"), GMP is level with BIMP on average (+1, 0, −1)."""
    bimp = [0.60, 0.60, 0.60]
    runs = {"BIMP": {"test_accuracy": bimp},
            "DPF": {"test_accuracy": [0.62, 0.63, 0.64]},
            "GMP": {"test_accuracy": [0.61, 0.60, 0.59]}}  # fmt: skip
    record = {"seeds": [0, 1, 2], "goal_sparsity": 0.9, "reference": "BIMP",
              "budgets": {"52": runs, "40": runs}}  # fmt: skip
    built = claims.build_rows({"zimmer_table2_mnist1d": record})
    # the only other row: the IMP-WR/LRR/FT placeholder that says its record is missing
    ours = [b for b in built if "zimmer_table2_mnist1d" in b[0].figure]
    assert len(built) == 2 and len(ours) == 1
    row, results = ours[0]
    assert [(r["label"], r["arm_a"]) for r in results] == [
        ("40 epochs", "DPF"),
        ("52 epochs", "DPF"),
        ("40 epochs", "GMP"),
        ("52 epochs", "GMP"),
    ]  # budgets in numeric order, each method against BIMP
    dpf, gmp = results[0], results[2]
    half = T975[2] * 0.01 / math.sqrt(3)  # differences 0.02, 0.03, 0.04: sd 0.01
    assert dpf["mean"] == pytest.approx(0.03) and dpf["ci95"] == pytest.approx(
        [0.03 - half, 0.03 + half]
    )
    assert dpf["direction"] == -1 and dpf["verdict"] == "opposite"
    assert dpf["test_samples"] == 1000  # no test_samples in the record: the package's 1,000
    assert gmp["mean"] == pytest.approx(0, abs=1e-12) and gmp["verdict"] == "unresolved"
    line = claims.markdown_row(row, results, [c.digits for c in row.comparisons])
    assert line.startswith('| [ZIMMER] BIMP "is capable of outperforming')
    assert "40 epochs: DPF − BIMP +3.0 [" in line and "at 90% sparsity" in line
    assert line.endswith("| **opposite in part, otherwise unresolved** |")


def test_fig2_counts_text_and_failures(claims):
    """[PAUL] Fig. 2 both-directions counts: the text quotes each rewind point's stored counts
    and the failing implications are those whose holds < of at 0.02."""

    def counts(th, m_nb, m_b, n_nb, n_b):
        return {"matching_no_barrier": m_nb, "matching_barrier": m_b,
                "not_matching_no_barrier": n_nb, "not_matching_barrier": n_b, "threshold": th,
                "matching_level": 0.035, "matching_implies_no_barrier": [m_nb, m_nb + m_b],
                "no_barrier_implies_matching": [m_nb, m_nb + n_nb]}  # fmt: skip

    per_tau = {"40": {"barrier_matching": {"epsilon": counts(0.0035, 5, 3, 2, 2),
                                           "0.02": counts(0.02, 8, 0, 2, 2)}},
               "200": {"barrier_matching": {"epsilon": counts(0.0035, 9, 1, 1, 1),
                                            "0.02": counts(0.02, 10, 0, 0, 2)}}}  # fmt: skip
    text, fails = claims._fig2_counts(per_tau)
    assert "over 12 (seed, level) pairs" in text
    assert "matching ⇒ no barrier in 8 of 8 (τ = 40), 10 of 10 (τ = 200)" in text
    assert "no barrier ⇒ matching in 8 of 10 (τ = 40), 10 of 10 (τ = 200)" in text
    assert "(ε = 0.0035, the seed spread of the dense error): 5 of 8 and 5 of 7 (τ = 40)" in text
    assert fails == [("no_barrier_implies_matching", "40", 8, 10)]


def test_adaptive_levels_are_compared_with_the_fixed_run_interpolated_to_their_density(claims):
    """[PAUL] App. F at equal density: log-linear interpolation per seed between the two
    fixed levels around the adaptive level's density; a level below the fixed run's last
    one is left out, and level 0 never enters."""
    fixed = {"density": [[0.8**k] * 2 for k in range(4)],
             "test_accuracy": [[0.70, 0.60], [0.68, 0.58], [0.66, 0.56], [0.60, 0.50]]}  # fmt: skip
    # seed 0 halfway (in log density) between levels 1 and 2, seed 1 exactly at level 2
    half = 0.8**1.5
    adaptive = {"density": [[1.0, 1.0], [half, 0.64], [0.1, 0.1]],
                "test_accuracy": [[0.70, 0.60], [0.675, 0.55], [0.5, 0.4]]}  # fmt: skip
    rows = claims.adaptive_interpolated(adaptive, fixed)
    assert [r[0] for r in rows] == [1]
    assert rows[0][1] == [0.675, 0.55]
    assert rows[0][2] == pytest.approx([0.67, 0.56])
