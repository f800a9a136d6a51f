//! Azure Kinect host capture: libk4a via libloading, capture, Redis publishing, synthetic source.
