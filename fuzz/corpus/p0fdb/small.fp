; a test database
classes = win,unix,other
[mtu]
label = Ethernet
sig = 1500
[tcp:request]
label = g:unix:Generic:any
sig   = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0
label = s:unix:Specific:ws7
sig   = 4:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0
label = s:win:Mtu:2
sig   = *:128:0:1460:mtu*2,0:mss,nop,ws::0
label = s:!:Tool:random
sys   = @unix
sig   = *:64-:0:1460:1024,0:mss::0
label = s:other:Mod:
sig   = *:255:0:*:%512,0:mss,eol+3::+
[tcp:response]
label = not read
sig = not a signature
