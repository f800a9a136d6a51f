//! Tests for issue-area `kinect` (filled in by its work).
