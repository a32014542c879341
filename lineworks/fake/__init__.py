"""The fake LINE WORKS server (tests, demo). See lineworks.fake.server."""
