from pathlib import Path

import pytest

from pose_service.config import ConfigError, load


def test_defaults_follow_the_container_layout():
    c = load({"HOME": "/home/app"})
    assert c.log_level == "info"
    assert c.http_port == 8000
    assert c.cache_dir == Path("/home/app/.cache")
    assert c.uploads_dir == Path("/data/uploads")
    assert c.mode == "jobs"
    assert c.gpu_request == "all" and not c.gpu_disabled
    assert c.gpu_memory_fraction is None


def test_values_from_the_environment():
    c = load({"LOG_LEVEL": "WARN", "DEVSTACK_GPU": "none", "POSE_GPU_MEMORY_FRACTION": "0.5",
              "POSE_MODE": "both", "POSE_MAX_FRAMES": "300", "HTTP_PORT": "9000"})
    assert c.log_level == "warning"
    assert c.gpu_disabled
    assert c.gpu_memory_fraction == 0.5
    assert (c.mode, c.max_frames, c.http_port) == ("both", 300, 9000)
    assert load({"DEVSTACK_GPU": "GPU-abc,1"}).gpu_request == "gpu-abc,1"


@pytest.mark.parametrize("env, message", [
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL=loud"),
    ({"POSE_MODE": "batch"}, "POSE_MODE=batch is not one of jobs, kinect, both"),
    ({"POSE_DETECTOR": "yolo"}, "POSE_DETECTOR=yolo"),
    ({"POSE_GPU_MEMORY_FRACTION": "1.5"}, "must be in (0, 1]"),
    ({"POSE_GPU_MEMORY_FRACTION": "half"}, "is not a number"),
    ({"HTTP_PORT": "http"}, "HTTP_PORT=http is not an integer"),
    ({"POSE_MAX_FRAMES": "-1"}, "must be >= 0"),
])
def test_invalid_settings_name_themselves(env, message):
    with pytest.raises(ConfigError) as err:
        load(env)
    assert message in str(err.value)
