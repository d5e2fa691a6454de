"""Post-processing, as a library of array functions: CAM maps (``cam_maps``), CRF seeds (``seeds``), the random
walk (``random_walk``), IRN's instances (``instances``), semantic and instance scoring (``scoring``,
``instance_scoring``) and COCO-format instance files (``coco_instances``). Nothing here reads settings."""


