"""Follow-ups: the queue of drafts to approve and send, their templates, and the SMTP mailer."""
