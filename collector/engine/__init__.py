"""Rule-based diagnostics: rules are data (rules/**/*.yaml), evaluation is pure."""
