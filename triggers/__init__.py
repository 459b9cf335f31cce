"""Scheduled jobs (birthday months, deadlines, payroll) that raise events into the same stream."""
