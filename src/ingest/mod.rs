//! Importing samples: image files recognised by content, and CSV / JSON Lines rows.
