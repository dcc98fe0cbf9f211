"""Reports: pandas tables of the tidy scores rendered to self-contained HTML."""
