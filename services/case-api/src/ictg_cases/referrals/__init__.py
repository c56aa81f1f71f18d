"""What the case follows of its referral after it opened: the referrer's corrections and withdrawal."""
