//! Tests for issue-area `doctor` (filled in by its work).
