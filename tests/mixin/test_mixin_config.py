"""The mixin's config: one place for thresholds, selectors and durations, validated."""

from __future__ import annotations

import pytest

from mixin.config import DEFAULT_FOR, MixinConfig, MixinConfigError, Thresholds, from_mapping


def test_defaults_are_binances_levels_and_the_issue_thresholds():
    t = MixinConfig().thresholds
    assert (t.uni_mmr_warning, t.uni_mmr_critical, t.uni_mmr_liquidation) == (1.5, 1.2, 1.1)
    assert (t.margin_ratio_warning, t.margin_ratio_critical) == (0.5, 0.8)
    assert (t.liquidation_distance_warning, t.liquidation_distance_critical) == (0.1, 0.05)
    assert MixinConfig().job_selector == 'job="binance-pm-exporter"'
    assert MixinConfig().api_weight_warning == 4800


def test_a_mapping_changes_only_the_keys_it_names():
    config = from_mapping(
        {"thresholds": {"uni_mmr_warning": 1.6}, "for": {"BinancePMUniMMRLow": "2m"}}
    )
    assert config.thresholds == Thresholds(uni_mmr_warning=1.6)
    assert config.for_durations == {**DEFAULT_FOR, "BinancePMUniMMRLow": "2m"}


def test_an_override_inherits_the_thresholds_it_does_not_name():
    config = from_mapping(
        {
            "thresholds": {"uni_mmr_critical": 1.3},
            "account_overrides": [{"accounts": ["desk2"], "thresholds": {"uni_mmr_warning": 1.8}}],
        }
    )
    desk2 = config.thresholds_for(config.account_overrides[0])
    assert (desk2.uni_mmr_warning, desk2.uni_mmr_critical) == (1.8, 1.3)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"thresholds": {"uni_mmr_warning": "high"}}, "thresholds.uni_mmr_warning"),
        ({"thresholds": {"uni_mmr_warnin": 1.6}}, "thresholds: unknown keys ['uni_mmr_warnin']"),
        ({"for": {"BinancePMUniMMRLow": "5 minutes"}}, "for.BinancePMUniMMRLow"),
        ({"for": {"NoSuchAlert": "5m"}}, "for: unknown alerts ['NoSuchAlert']"),
        ({"jobselector": "x"}, "jobselector: unknown key"),
        ({"job_selector": ""}, "job_selector: must be PromQL label matchers"),
        ({"usd_assets": []}, "usd_assets: must be a list"),
        (
            {"account_overrides": [{"accounts": ["a b"], "thresholds": {}}]},
            "account_overrides[0].accounts",
        ),
        (
            {
                "account_overrides": [
                    {"accounts": ["desk2"], "thresholds": {}},
                    {"accounts": ["desk2"], "thresholds": {}},
                ]
            },
            "account_overrides[1].accounts: 'desk2' is in two overrides",
        ),
        (
            {"account_overrides": [{"accounts": ["desk2"], "thresholds": {"nope": 1}}]},
            "account_overrides[0].thresholds: unknown keys ['nope']",
        ),
        ({"account_overrides": [{"accounts": ["desk2"]}]}, "account_overrides[0]"),
    ],
)
def test_mistakes_name_the_key_path(raw, message):
    with pytest.raises(MixinConfigError) as caught:
        from_mapping(raw)
    assert str(caught.value).startswith(message)
