"""The tenant's usage dashboard, alarms and saved queries, all on the record's EMF metrics."""
