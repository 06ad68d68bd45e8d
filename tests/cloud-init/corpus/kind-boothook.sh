#cloud-boothook
#!/bin/sh
echo "$INSTANCE_ID" > /etc/instance
