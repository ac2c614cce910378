"""The [touch] settings: defaults, true/false values from the file and the environment, and
errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, load_settings


def test_no_touchscreen_and_no_blanking_by_default(tmp_path: Path) -> None:
    touch = load_settings(tmp_path, env={}).touch
    assert touch.device == "" and touch.blank_after_s == 0
    assert (touch.min_x, touch.max_x, touch.swap_xy) == (0, 4095, False)


def test_a_rotated_panel_from_the_file_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "appliance.toml").write_text(
        '[touch]\ndevice = "/dev/bitagora/touch"\nmax_x = 799\nmax_y = 479\n'
        "swap_xy = true\ninvert_x = false\nblank_after_s = 120\n"
    )
    touch = load_settings(tmp_path, env={"BITAGORA_TOUCH_INVERT_Y": "yes"}).touch
    assert (touch.max_x, touch.max_y, touch.swap_xy, touch.invert_y) == (799, 479, True, True)
    assert touch.blank_after_s == 120.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BITAGORA_TOUCH_SWAP_XY": "sideways"},
            "touch.swap_xy (BITAGORA_TOUCH_SWAP_XY): expected",
        ),
        ({"BITAGORA_TOUCH_DEVICE": "event3"}, "touch.device: must be a device path"),
        ({"BITAGORA_TOUCH_MAX_X": "0"}, "touch.max_x: must be more than touch.min_x (0)"),
        ({"BITAGORA_TOUCH_EVENT_SIZE": "20"}, "touch.event_size: must be 24"),
        ({"BITAGORA_TOUCH_BLANK_AFTER_S": "0.5"}, "touch.blank_after_s: must be 0 (never)"),
        ({"BITAGORA_TOUCH_SLOP_PCT": "80"}, "touch.slop_pct: must be 0..50"),
        ({"BITAGORA_TOUCH_BACKLIGHT": "/sys/class/backlight/x"}, "touch.backlight: must be"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(tmp_path, env=env)


def test_a_string_is_not_a_boolean_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "appliance.toml").write_text('[touch]\ninvert_x = "yes"\n')
    with pytest.raises(ConfigError, match="touch.invert_x: expected true or false"):
        load_settings(tmp_path, env={})
