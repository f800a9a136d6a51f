//! Tests for issue-area `stack` (filled in by its work).
