"""Moved to ``dataset/folder.py`` (own images are not VOC); ``python -m voc12.folder`` and
``from voc12 import folder`` still work, with a DeprecationWarning."""
import warnings

from dataset.folder import *  # noqa: F401,F403
from dataset.folder import main

warnings.warn("voc12.folder moved to dataset.folder; import dataset.folder (python -m dataset.folder)",
              DeprecationWarning, stacklevel=2)

if __name__ == "__main__":
    main()
