
encoder'/usr/lib/flowhost/plugins/libencoder.soEncoder"B
	
dim

model*tiny:
/indexencode@Jipc:///tmp/fh/gwZ/opt/plugins