"""The dataset layer every step reads through: a :class:`~dataset.spec.DatasetSpec` per dataset (folders,
class names, lists), the registry that maps ``--dataset`` to it, the dataset classes and transforms, the
up-front input checks, and the own-data importer (``python -m dataset.folder``).

``voc12/`` and ``coco14/`` keep what is theirs (class lists, specs, prepare, toy generators) and the
official class names (``voc12.dataloader.VOC12ClassificationDataset``, ...), built on these classes.
"""


