"""Azure Resource Graph: a KQL subset parsed with a grammar and evaluated over rows."""
