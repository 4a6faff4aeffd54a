"""s4_minimal.display.slider: figures a reader moves in the static book (chapters 2, 4, 5)."""

import base64
import io
import re

import matplotlib.pyplot as plt
import pytest
from PIL import Image

from s4_minimal.display import Slider, slider


def _figure():
    fig, ax = plt.subplots(figsize=(3, 2))
    (line,) = ax.plot([0, 1], [0, 0])
    ax.set(xlim=(0, 1), ylim=(-3, 3))

    def update(a, b):
        line.set_ydata([0, a * b])

    return fig, update


def test_one_opaque_frame_per_combination_in_order():
    fig, update = _figure()
    s = slider(fig, update, {"a": [1, 2, 3], "b": [-1, 1]}, label="test", start={"a": 2, "b": 1})
    assert isinstance(s, Slider) and len(s.frames) == 6
    # frame index = i_a * len(b) + i_b: the start (a=2, b=1) is frame 1 * 2 + 1 = 3
    assert s._start_index() == 3
    bundle = s._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain", "image/png"}
    assert bundle["image/png"] == base64.b64encode(s.frames[3]).decode()
    assert bundle["text/plain"] == "<slider: test; 6 frames>"
    html = bundle["text/html"]
    assert len(re.findall(r'type="range"', html)) == 2 and 'data-frame="3"' in html
    assert "http" not in html  # nothing fetched from the network
    image = Image.open(io.BytesIO(s.frames[0]))
    assert image.mode == "P" and image.info.get("transparency") is None  # opaque palette PNG
    assert len(set(s.frames)) == 6  # every combination draws a different picture


def test_arguments_are_checked_by_name():
    fig, update = _figure()
    with pytest.raises(ValueError, match="params"):
        slider(fig, update, {}, label="x")
    with pytest.raises(ValueError, match="params"):
        slider(fig, update, {"a": []}, label="x")
    with pytest.raises(ValueError, match="start"):
        slider(fig, update, {"a": [1, 2]}, label="x", start={"b": 1})
    with pytest.raises(ValueError, match="start"):
        slider(fig, update, {"a": [1, 2]}, label="x", start={"a": 5})
    plt.close(fig)
