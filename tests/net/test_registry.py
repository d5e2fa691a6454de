"""Networks register beside their definitions; the official module paths resolve to them without a warning."""
import sys
import types
import warnings

import pytest

from engine import checkpoints
from misc.errors import PipelineError
from net import registry, resnet50_amn, resnet50_cam, resnet50_irn


def test_each_network_class_is_registered_where_it_is_defined():
    assert registry.list_models() == ("deeplab_v2", "resnet50_amn", "resnet50_cam", "resnet50_irn")
    assert registry.MODELS["resnet50_cam"] == {"Net": resnet50_cam.Net, "CAM": resnet50_cam.CAM}
    assert registry.MODELS["resnet50_irn"]["EdgeDisplacement"] is resnet50_irn.EdgeDisplacement


def test_the_official_module_path_and_the_name_give_the_same_class_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registry.resolve("net.resnet50_amn", "CAM") is registry.resolve("resnet50_amn", "CAM") is \
            resnet50_amn.CAM


def test_another_module_path_still_builds_with_a_deprecation_warning(monkeypatch):
    module = types.ModuleType("my_nets")

    class Net:
        def __init__(self, n_classes):
            self.n_classes = n_classes

    module.Net = Net
    monkeypatch.setitem(sys.modules, "my_nets", module)
    with pytest.warns(DeprecationWarning, match="register its classes with @net.registry.register_model"):
        assert checkpoints.build_network("my_nets", "Net", n_classes=3).n_classes == 3


def test_unknown_networks_and_missing_classes_are_one_line_errors():
    with pytest.raises(PipelineError, match="unknown network 'resnet18_cam'; registered: deeplab_v2, resnet50_amn"):
        checkpoints.build_network("resnet18_cam", "Net")
    with pytest.raises(PipelineError, match="'resnet50_cam' has no EdgeDisplacement .it has CAM, Net."):
        checkpoints.build_network("resnet50_cam", "EdgeDisplacement")
