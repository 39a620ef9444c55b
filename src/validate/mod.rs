//! Validation: every check over the whole project, as findings with stable codes.
