[tcp:request]
label = s:!:Scanner:syn
sig = *:64-:0:1460:1024,0:mss::0
label = g:win:Generic:
sig = 4:128:0:*:%8192,*:mss,nop,ws,nop,nop,sok:df,id+:+
