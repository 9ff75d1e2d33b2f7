"""Muse on Slack (slack-bolt AsyncApp): chat by mention, thread and DM with streamed
replies, slash commands (/imagine with an immediate ack), buttons under pictures,
reactions as feedback, scheduled posts. Socket Mode or HTTP mode, as [slack] mode says.

    from adapters.slack.adapter import SlackAdapter
    adapter = SlackAdapter(muse, settings)   # settings: the [slack] section
    await adapter.run()                      # serves until cancelled, then closes

This package file imports nothing, so `adapters.slack.settings` loads without Bolt (the
config loader needs only that). Modules: adapter (SlackAdapter), settings ([slack]), serve
(HTTP / Socket Mode), translate (payloads -> core Message), people (users.info cache),
triggers (when to answer), dedupe (retried deliveries), reply (the core's Reply on Slack),
mrkdwn (Markdown -> Slack), outbound (scheduled posts), images (pictures with their
requester and buttons; requests in adapters.common.image_requests), listeners/ (features).
"""
