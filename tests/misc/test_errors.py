"""The error line starts on its own line: bars left open by an exception are closed first."""
import io

import pytest
from tqdm import tqdm

from misc.errors import close_progress_bars


def test_a_bar_interrupted_by_an_exception_is_closed_before_the_error_line():
    out = io.StringIO()

    class Trainer:  # a bar owned by an object, as the training loop's logging hook owns its bar
        def __init__(self):
            self.bar = tqdm(total=10, file=out, desc="train")

        def run(self):
            for i in range(10):
                self.bar.update()
                if i == 3:
                    raise ValueError("boom")

    trainer = Trainer()
    with pytest.raises(ValueError) as err:
        trainer.run()
    assert list(tqdm._instances)  # the bar outlives the exception while its owner does
    close_progress_bars()
    out.write(f"error: {err.value}\n")
    assert not list(tqdm._instances)
    assert out.getvalue().splitlines()[-1] == "error: boom"
    assert out.getvalue().splitlines()[-2].startswith("train:  40%")  # the bar's last state ends its own line
