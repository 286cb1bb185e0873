"""The recorder (Jibri's role): records a meeting to an MP4 file or streams it over RTMP."""
