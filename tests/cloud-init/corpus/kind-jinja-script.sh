## template: jinja
#!/bin/sh
echo {{ ds.meta_data.instance_id }}
