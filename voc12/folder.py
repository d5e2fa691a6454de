"""Moved to ``dataset/folder.py`` (own images are not VOC); ``python -m voc12.folder`` still runs it."""
from dataset.folder import *  # noqa: F401,F403
from dataset.folder import main

if __name__ == "__main__":
    main()
