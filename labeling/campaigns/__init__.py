"""Campaigns: who may do what (``permissions``), what a valid campaign is (``validation``), the writes
(``services``), the reads (``selectors``) and the builder's preview count (``preview``).

Every write takes the acting user and checks it first: only scientists and admins create campaigns, and a
scientist edits only the campaigns they own or collaborate on. A campaign's subjects are fixed when it goes live
(the same filter, sample size and seed always pick the same alerts), and "add matching" later adds only alerts
ingested after that, by the same filter.
"""
